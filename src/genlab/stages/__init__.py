"""The studies behind the DVC stages: one module, or one package, per stage, named as the stage.

`pipelines/<stage>.py` is the entry point DVC runs; the study it calls lives here, importable and
testable without DVC. A package holds a stage with several concerns (its study and its
figures, or `tune`'s search space, storage, workers and results). The concepts the studies
measure (losses, penalties, the bias-variance decomposition, the models) live in `genlab`.
"""
