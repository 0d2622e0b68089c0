"""Stage `report`: the self-contained HTML report, built only from the pipeline's outputs.

Run: `dvc repro report`, then open report/index.html (works offline: one file plus img/).
Reads: every stage's results/*.json and plots/ figures, dvc.lock (the params each ran with).
Writes: report/index.html and report/img/.
"""

from argparse import Namespace

from genlab.cli import run_stage
from genlab.paths import project_root
from genlab.stages.report.page import render
from genlab.stages.report.sections import SECTIONS


def main(paths: Namespace) -> None:
    root = project_root()
    index = render(root, SECTIONS, root / paths.out)
    shown = sum((root / s.results(root)).is_file() for s in SECTIONS)
    print(f"report: {index.relative_to(root)} with {shown}/{len(SECTIONS)} sections")


if __name__ == "__main__":
    run_stage("report", main, paths=["out"])
