"""Training of the trackers' networks: ``python -m training siam|atom ...`` (see docs/training.md).

- ``training.data``: sequence sources (dataset folders, ``synthetic:N``), frame-pair sampling,
  the resumable, rank-sharded loader;
- ``training.crops``: SiamFC and ATOM training crops, augmentation, IoU-Net proposals;
- ``training.losses``: response labels and the balanced logistic loss;
- ``training.siam`` / ``training.atom``: each recipe's objective, optimiser and schedule;
- ``training.engine``: the shared loop (devices, DistributedDataParallel, checkpoints, logs);
- ``training.config``: the options of a run; ``training.cli``: the command line;
- ``training.splits`` (+ ``splits.toml``): the training / evaluation split of ../shared/data, and
  the refusal of evaluation sequences as training data; ``training.augment``: tracking augmentations;
- ``training.refine_sweep`` / ``training.iou_probe``: AFF-ATOM's refinement settings and IoU-Net,
  measured on the training split; ``training.pack_data`` and ``gpu_train.sh``: a GPU part on a
  machine that gets only carried files; ``run_in_parts.sh``: long background runs in resumable parts.

Needs torch (``pip install 'edge-tracker[export]'``).
"""
