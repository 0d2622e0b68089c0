"""Stage `evaluate`: measure the selected models on every split and publish the results.

Run: `dvc repro evaluate`; then `dvc metrics show`, `dvc plots show`.
Reads: params `model`, `train.loss`, `train.eval_batch_size`, `diagnosis`, `tracking`;
data/prepared; models/ and plots/train/history.csv (stage `train`: the main model, the MLP by
default); models_cnn/ and plots/train_cnn/history.csv (stage `train_cnn`: the 1-D CNN beside it).
Writes: metrics/evaluate.json (the main model's test loss and accuracy, gap, status, diagnosis;
the CNN's test accuracy as `cnn.test/acc`), results/evaluate.json (every number of
both, each with its diagnosis and the reason; the CNN's under `cnn`; the MNIST-1D paper's
accuracies for reference), plots/evaluate/ (both models' learning curves side by side,
models.csv to compare them, each model's learning curve and test confusion matrix); adds
`final/*` metrics, the figure and the diagnosis tags (`genlab.diagnosis`,
`genlab.diagnosis_reason`) to each training run in MLflow (the run tagged with the sha256 of its
checkpoint).
The study: genlab.stages.evaluate, run through the study contract (genlab.study).
"""

from genlab.cli import run_stage

PATHS = ("data", "models", "history", "cnn_models", "cnn_history", "metrics", "results", "plots")

if __name__ == "__main__":
    run_stage("evaluate", "genlab.stages.evaluate", paths=PATHS)
