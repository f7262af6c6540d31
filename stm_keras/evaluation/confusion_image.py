"""Renders a confusion matrix as a PNG heat map (rows = true class, columns = prediction),
optionally with its largest confusions listed beside it (what stays readable at 174 classes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Class names are drawn only while a cell is tall enough for a line of text; above that many
# classes (Kinetics-400) the map alone is the readable part.
MIN_LABELLED_CELL = 9
MAX_LABEL_CHARS = 28
TARGET_MATRIX_PIXELS = 720
# Long names (Something-Something's) keep their start and end; the middle gives way.
MAX_LISTED_NAME_CHARS = 56
WHITE = np.array([255, 255, 255], np.float32)
DARK_BLUE = np.array([8, 48, 107], np.float32)


def _cell_size(num_classes: int) -> int:
    return int(np.clip(TARGET_MATRIX_PIXELS // max(num_classes, 1), 2, 40))


def largest_confusions(matrix: np.ndarray, count: int) -> list[tuple[int, int, int, float]]:
    """The ``count`` largest off-diagonal cells of ``matrix`` that are not zero.

    Returns:
        ``(true, predicted, videos, fraction of the true class's videos)`` tuples, most videos
        first (ties: the larger fraction, then the lower class indices).
    """
    matrix = np.asarray(matrix, np.int64)
    rows = matrix.sum(axis=1)
    cells = [
        (int(true), int(predicted), int(matrix[true, predicted]))
        for true, predicted in zip(*np.nonzero(matrix), strict=True)
        if true != predicted
    ]
    cells.sort(key=lambda cell: (-cell[2], -cell[2] / rows[cell[0]], cell[0], cell[1]))
    return [(true, predicted, n, n / rows[true]) for true, predicted, n in cells[:count]]


def _short(name: str) -> str:
    if len(name) <= MAX_LISTED_NAME_CHARS:
        return name
    head = (MAX_LISTED_NAME_CHARS - 3) // 2
    tail = MAX_LISTED_NAME_CHARS - 3 - head
    return f"{name[:head]}...{name[-tail:]}"


def _confusion_list(matrix: np.ndarray, class_names: Sequence[str], count: int) -> Image.Image:
    """The largest confusions as lines of text: ``videos  share  true -> predicted``."""
    font = ImageFont.load_default(size=12)
    line_height = 16
    confusions = largest_confusions(matrix, count)
    lines = [
        f"The {count} largest confusions at most:",
        "videos, share of the true class's videos, true class -> predicted class",
        "",
    ]
    lines += [
        f"{videos:>5}  {fraction:>4.0%}  {_short(class_names[true])} -> "
        f"{_short(class_names[predicted])}"
        for true, predicted, videos, fraction in confusions
    ]
    if not confusions:
        lines.append("none: every video is on the diagonal")
    width = max(int(font.getlength(line)) for line in lines) + 8
    image = Image.new("RGB", (width, line_height * len(lines) + 8), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((4, 4 + i * line_height), line, fill="black", font=font)
    return image


def render_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], listed_confusions: int = 0
) -> Image.Image:
    """Draws ``matrix`` with each row normalized to the fraction of that class's videos.

    Args:
        matrix: int ``[num_classes, num_classes]``. Counts, row = true class.
        class_names: sequence of str. Axis labels, drawn when the cells are large enough.
        listed_confusions: int. Beside the matrix, list up to this many of the largest
            off-diagonal cells with their class names (0: the matrix alone). Defaults to 0.

    Returns:
        An RGB PIL image.
    """
    matrix = np.asarray(matrix, np.float64)
    num_classes = matrix.shape[0]
    cell = _cell_size(num_classes)
    rows = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    colors = WHITE + fractions[..., None].astype(np.float32) * (DARK_BLUE - WHITE)
    heat = np.repeat(np.repeat(colors.round().astype(np.uint8), cell, axis=0), cell, axis=1)

    labelled = cell >= MIN_LABELLED_CELL
    font = ImageFont.load_default(size=min(cell - 2, 12) if labelled else 10)
    names = [name[:MAX_LABEL_CHARS] for name in class_names] if labelled else []
    text_width = max([int(font.getlength(name)) for name in names], default=0)
    title_height = 16
    margin = text_width + 8 + title_height
    image = Image.new("RGB", (margin + heat.shape[1] + 4, margin + heat.shape[0] + 4), "white")
    image.paste(Image.fromarray(heat), (margin, margin))
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        [margin - 1, margin - 1, margin + heat.shape[1], margin + heat.shape[0]], outline="gray"
    )
    draw.text((margin, 2), "predicted class", fill="black", font=font)
    true_title = Image.new("RGB", (int(font.getlength("true class")) + 2, title_height), "white")
    ImageDraw.Draw(true_title).text((0, 1), "true class", fill="black", font=font)
    image.paste(true_title.rotate(90, expand=True), (2, margin))
    for i, name in enumerate(names):
        offset = margin + i * cell + (cell - font.size) // 2
        draw.text((margin - 4, offset), name, fill="black", font=font, anchor="ra")
        column = Image.new("RGB", (int(font.getlength(name)) + 2, cell), "white")
        ImageDraw.Draw(column).text((0, (cell - font.size) // 2), name, fill="black", font=font)
        column = column.rotate(90, expand=True)
        image.paste(column, (margin + i * cell, margin - 4 - column.height))
    if listed_confusions > 0:
        listing = _confusion_list(matrix, class_names, listed_confusions)
        size = (image.width + 12 + listing.width, max(image.height, margin + listing.height))
        both = Image.new("RGB", size, "white")
        both.paste(image, (0, 0))
        both.paste(listing, (image.width + 12, margin))
        image = both
    return image


def save_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str, listed_confusions: int = 0
) -> str:
    """Writes :func:`render_confusion_matrix` to ``path`` as PNG and returns ``path``."""
    render_confusion_matrix(matrix, class_names, listed_confusions).save(path, format="PNG")
    return path
