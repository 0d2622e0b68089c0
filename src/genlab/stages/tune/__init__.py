"""Stage `tune`: the Optuna study over learning rate, batch size and the regularization
strength λ.

Every trial trains through `genlab.training.fit` (Lightning), reports its validation metric per
epoch to the pruner and logs into its own MLflow child run under the study's one parent run,
shared by every process and machine. The test split never reaches a trial: the search sees
train and val only. The study lives outside DVC's outputs (an Optuna journal file, or an RDB
shared by many machines), so a rerun with the same params resumes it, and it ends with exactly
`tune.n_trials` finished trials however many processes work on it.

Modules, each importing only those before it:
- `space`: what a trial is (search space, trained config, objective metric, study name,
  sampler, pruner, the config train_best retrains);
- `runs`: the study's MLflow parent run and the trials' child runs;
- `storage`: where the study lives (journal or RDB with heartbeats), the attributes trials carry;
- `trials`: trial status, the budget, trials whose worker is gone;
- `objective`: one trial's training;
- `workers`: the processes that work the study (`run_study`);
- `results`: what a finished study says (best configuration, tables, importances);
- `figures`: its figures, drawn from `results`;
- `stage`: what the stage runs, on the study contract (`genlab.study`): the study, then its
  outputs and the parent run's summary;
- `dashboard`: `make dashboard` (optuna-dashboard on the same storage).
"""
