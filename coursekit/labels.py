"""Where vectors come from, in words: the one definition of the stand-in's label.

The stand-in stamps every answer with it (``x-course-source``), recordings of the stand-in
carry it, and ``helpers.client`` names the cache entries of local mode with it. It lives in a
module of its own so that asking for the label imports neither the stand-in nor its model.
"""

STANDIN_SOURCE = ("local stand-in: ConSE EfficientNet-Lite0 + all-MiniLM-L6-v2, "
                  "with OpenCV Haar people and face detectors")

#: The stand-in's answers to ``image`` and ``text_image`` requests say how they were computed:
#: it has no joint text-and-image model, so the second is a combination, not a fusion Marengo learnt.
STANDIN_IMAGE_SOURCE = STANDIN_SOURCE + "; image: the picture's ConSE vector, as for one video frame"
STANDIN_TEXT_IMAGE_SOURCE = (STANDIN_SOURCE + "; text_image: no joint model, the normalised sum of the "
                             "text's vector and the picture's vector")


def is_standin(source: str) -> bool:
    """Whether a ``source`` label names the stand-in (whatever input type it answered)."""
    return source == STANDIN_SOURCE or source.startswith(STANDIN_SOURCE + ";")
