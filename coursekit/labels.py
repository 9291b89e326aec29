"""Where vectors come from, in words: the one definition of the stand-in's label.

The stand-in stamps every answer with it (``x-course-source``), recordings of the stand-in
carry it, and ``helpers.client`` names the cache entries of local mode with it. It lives in a
module of its own so that asking for the label imports neither the stand-in nor its model.
"""

STANDIN_SOURCE = ("local stand-in: ConSE EfficientNet-Lite0 + all-MiniLM-L6-v2, "
                  "with OpenCV Haar people and face detectors")
