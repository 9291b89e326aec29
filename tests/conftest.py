"""Shared test set-up. Notebooks are compared by nbval; stderr (progress bars, warnings) is not."""

from __future__ import annotations


def pytest_collectstart(collector):
    # Progress bars and library warnings go to stderr and vary run to run; what a notebook
    # teaches is in its stdout and rich outputs, which nbval compares strictly.
    if hasattr(collector, "skip_compare"):
        collector.skip_compare += ("stderr",)
