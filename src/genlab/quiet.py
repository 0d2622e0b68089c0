"""Keep stage output to what a user reads: Lightning's banners and tips go, warnings stay."""

from __future__ import annotations

import logging
import warnings


def quiet_libraries() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")
    # Under DDP the monitored values are all-reduced before they are logged (GenLabModule), so
    # Lightning's advice to sync them again does not apply.
    warnings.filterwarnings("ignore", message=".*when logging on epoch level in distributed.*")
