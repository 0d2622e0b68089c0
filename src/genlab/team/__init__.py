"""Team mode: the shared services a team needs, started locally with one command.

`python -m genlab.team up|down|status` (or `make team-up` / `team-down` / `team-status`) runs a
PostgreSQL cluster (MLflow's runs and users, Optuna's studies), an S3-compatible object store
(MLflow's artifacts, the DVC remote) and an MLflow tracking server on both, and writes
`team.env` for clients. Against a team's own servers the same variables point there instead.
"""
