"""Training of the trackers' networks: ``python -m training siam|atom ...`` (see docs/training.md).

- ``training.data``: sequence sources (dataset folders, ``synthetic:N``), frame-pair sampling,
  the resumable, rank-sharded loader;
- ``training.crops``: SiamFC and ATOM training crops, augmentation, IoU-Net proposals;
- ``training.losses``: response labels and the balanced logistic loss;
- ``training.siam`` / ``training.atom``: each recipe's objective, optimiser and schedule;
- ``training.engine``: the shared loop (devices, DistributedDataParallel, checkpoints, logs);
- ``training.config``: the options of a run; ``training.cli``: the command line.

Needs torch (``pip install 'edge-tracker[export]'``).
"""
