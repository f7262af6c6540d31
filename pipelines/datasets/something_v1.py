"""20BN-Something-Something v1: 108k object-interaction clips as JPEG frame folders, 174 classes."""

from stm_keras.pipelines.datasets.frame_csv import FrameFolderCsvDataset

FPS = 12.0

ADAPTER = FrameFolderCsvDataset(
    name="something-v1",
    frames_dir="20bn-something-something-v1",
    labels_files=("something-something-v1-labels.csv",),
    split_files={
        "train": ("something-something-v1-train.csv",),
        "validation": ("something-something-v1-validation.csv",),
        "test": ("something-something-v1-test.csv",),
    },
    fps=FPS,
    # "Swiping Left" / "Pushing something from left to right": a flip swaps such classes.
    direction_sensitive=True,
    layout="""\
  20bn-something-something-v1/<id>/00001.jpg, 00002.jpg, ...   (frames, 100 px high, 12 fps)
  something-something-v1-labels.csv       one class name per line (174 lines)
  something-something-v1-train.csv        <id>;<class name> per line
  something-something-v1-validation.csv   <id>;<class name> per line
  something-something-v1-test.csv         <id> per line""",
)
