"""Stage `tune`: the Optuna study over learning rate, batch size and λ."""
