"""20BN-Jester v1: 148k hand-gesture clips as JPEG frame folders, 27 classes, 12 fps."""

from stm_keras.pipelines.datasets.frame_csv import FrameFolderCsvDataset

FPS = 12.0

ADAPTER = FrameFolderCsvDataset(
    name="jester",
    frames_dir="20bn-jester-v1",
    labels_files=("jester-v1-labels.csv", "labels/labels.csv"),
    split_files={
        "train": ("jester-v1-train.csv", "labels/train.csv"),
        "validation": ("jester-v1-validation.csv", "labels/validation.csv"),
        "test": ("jester-v1-test.csv", "labels/test.csv"),
    },
    fps=FPS,
    # "Swiping Left" / "Pushing something from left to right": a flip swaps such classes.
    direction_sensitive=True,
    layout="""\
  20bn-jester-v1/<id>/00001.jpg, 00002.jpg, ...   (frames, 100 px high, 12 fps)
  jester-v1-labels.csv        one class name per line (27 lines)
  jester-v1-train.csv         <id>;<class name> per line
  jester-v1-validation.csv    <id>;<class name> per line
  jester-v1-test.csv          <id> per line
  (or the re-release names labels/labels.csv, labels/train.csv, labels/validation.csv,
  labels/test.csv)""",
)
