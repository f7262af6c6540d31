"""Real class names of each dataset, ordered so that ``--classes K`` keeps temporal pairs together,
and the synthetic motion each one is drawn as.

Where the real dataset has classes told apart only by the order of frames (Jester's swipes and
zooms, Something-Something's left-to-right vs right-to-left, HMDB's sit vs stand), the synthetic
pair is one motion and its time reversal.
"""

from __future__ import annotations

from stm_keras.pipelines.synth.motion import Motion


def _pair(first: str, second: str, shape: str, movement: str) -> list[tuple[str, Motion]]:
    """Two classes: ``movement`` played backwards, then forwards."""
    return [(first, Motion(shape, movement, reverse=True)), (second, Motion(shape, movement))]


JESTER: list[tuple[str, Motion]] = [
    *_pair("Swiping Left", "Swiping Right", "disc", "right"),
    *_pair("Swiping Up", "Swiping Down", "disc", "down"),
    *_pair("Zooming Out With Full Hand", "Zooming In With Full Hand", "disc", "grow"),
    *_pair("Turning Hand Counterclockwise", "Turning Hand Clockwise", "bar", "rotate_cw"),
    *_pair("Sliding Two Fingers Left", "Sliding Two Fingers Right", "two_discs", "right"),
    *_pair("Sliding Two Fingers Up", "Sliding Two Fingers Down", "two_discs", "down"),
    *_pair("Zooming Out With Two Fingers", "Zooming In With Two Fingers", "two_discs", "grow"),
    *_pair("Pushing Hand Away", "Pulling Hand In", "square", "grow"),
    *_pair("Pushing Two Fingers Away", "Pulling Two Fingers In", "two_squares", "grow"),
    *_pair("Rolling Hand Backward", "Rolling Hand Forward", "striped_disc", "roll"),
    *_pair("Thumb Up", "Thumb Down", "bar", "down"),
    ("Shaking Hand", Motion("disc", "shake")),
    ("Stop Sign", Motion("square", "still")),
    ("Drumming Fingers", Motion("four_dots", "flicker")),
    ("No gesture", Motion("disc", "absent")),
    ("Doing other things", Motion("two_discs", "wander")),
]

SOMETHING: list[tuple[str, Motion]] = [
    *_pair(
        "Pushing [something] from right to left",
        "Pushing [something] from left to right",
        "square",
        "right",
    ),
    *_pair("Moving [something] up", "Moving [something] down", "disc", "down"),
    *_pair(
        "Moving [something] away from the camera",
        "Moving [something] towards the camera",
        "disc",
        "grow",
    ),
    *_pair(
        "Pulling [something] from right to left",
        "Pulling [something] from left to right",
        "two_squares",
        "right",
    ),
    *_pair(
        "Moving away from [something] with your camera",
        "Approaching [something] with your camera",
        "square",
        "grow",
    ),
    *_pair(
        "Turning the camera right while filming [something]",
        "Turning the camera left while filming [something]",
        "two_discs",
        "right",
    ),
    *_pair(
        "Turning the camera downwards while filming [something]",
        "Turning the camera upwards while filming [something]",
        "two_discs",
        "down",
    ),
    *_pair(
        "Moving [something] and [something] closer to each other",
        "Moving [something] and [something] away from each other",
        "two_discs",
        "grow",
    ),
    ("Holding [something]", Motion("disc", "still")),
    ("Showing [something] behind [something]", Motion("square", "still")),
    ("Rolling [something] on a flat surface", Motion("striped_disc", "roll")),
    ("Shaking [something]", Motion("bar", "shake")),
]

# Your own videos (the folders and csv layouts): plain names, a temporal pair first, so a dataset
# of the first two classes is direction-sensitive ("moving_left" flipped is "moving_right").
OWN_VIDEOS: list[tuple[str, Motion]] = [
    *_pair("moving_left", "moving_right", "disc", "right"),
    *_pair("shrinking", "growing", "square", "grow"),
    ("rotating", Motion("bar", "rotate_cw")),
    ("rolling", Motion("striped_disc", "roll")),
    ("shaking", Motion("two_discs", "shake")),
    ("flickering", Motion("four_dots", "flicker")),
]

KINETICS400 = [
    "abseiling",
    "air drumming",
    "answering questions",
    "applauding",
    "applying cream",
    "archery",
    "arm wrestling",
    "arranging flowers",
    "assembling computer",
    "auctioning",
    "baby waking up",
    "baking cookies",
]

UCF101 = [
    "ApplyEyeMakeup",
    "ApplyLipstick",
    "Archery",
    "BabyCrawling",
    "BalanceBeam",
    "BandMarching",
    "BaseballPitch",
    "Basketball",
    "BasketballDunk",
    "BenchPress",
    "Biking",
    "Billiards",
]

HMDB51_PAIRS: list[tuple[str, Motion]] = [
    *_pair("stand", "sit", "bar", "down"),
    ("brush_hair", Motion("disc", "shake")),
    ("cartwheel", Motion("bar", "rotate_cw")),
    ("catch", Motion("disc", "grow")),
    ("chew", Motion("square", "flicker")),
    ("clap", Motion("two_discs", "shake")),
    ("climb", Motion("square", "down", reverse=True)),
    ("dive", Motion("disc", "down")),
    ("draw_sword", Motion("bar", "right")),
    ("dribble", Motion("four_dots", "flicker")),
    ("walk", Motion("two_squares", "right")),
]

# Appearance-based datasets: shapes and movements cycle through the classes in index order.
_GENERIC_MOVEMENTS = ("right", "down", "grow", "rotate_cw", "roll", "shake")
_GENERIC_SHAPES = ("disc", "square", "two_discs", "bar", "striped_disc", "two_squares")


def generic_motions(names: list[str]) -> list[tuple[str, Motion]]:
    """Gives each name a distinct (shape, movement) combination."""
    return [
        (
            name,
            Motion(
                _GENERIC_SHAPES[i % len(_GENERIC_SHAPES)],
                _GENERIC_MOVEMENTS[(i // len(_GENERIC_SHAPES) + i) % len(_GENERIC_MOVEMENTS)],
            ),
        )
        for i, name in enumerate(names)
    ]


def something_v1_name(template: str) -> str:
    """Something-Something v1 class names are the v2 templates without brackets."""
    return template.replace("[", "").replace("]", "")
