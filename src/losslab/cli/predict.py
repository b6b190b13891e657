"""``losslab predict``: a kept model's predictions for new rows, as a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._errors import LosslabError
from .app import app, console, debug_option, err, guard
from .options import fraction, shown, split_list


@app.command()
def predict(
    model_file: Path = typer.Argument(..., metavar="MODEL", help="A model file (.losslab) written by `losslab compare --keep` or Predictor.save."),
    data: str = typer.Argument(..., help="Rows to predict: CSV, Parquet, npz, an image folder or a registry name; the target column may be absent."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", help="The CSV to write: one row per input row."),
    level: str = typer.Option("0.9", "--level", metavar="FLOAT", help="Probability of the central prediction interval (columns <target>_low, <target>_high)."),
    quantiles: Optional[str] = typer.Option(None, "--quantiles", help="Quantile levels, comma-separated, e.g. 0.1,0.5,0.9 (columns <target>_q<level>)."),
    trials: Optional[str] = typer.Option(None, "--trials", help="For k/n laws (binomial, beta-binomial): the number of trials n, or the column holding it."),
    id_column: Optional[str] = typer.Option(None, "--id", help="A column naming the rows, written first (default: a table's first column when the model does not use it)."),
    debug: bool = debug_option(),
) -> None:
    """Predict with a kept model: point, interval and (optionally) quantile columns for each row of DATA."""

    def run() -> None:
        from ..experiment.predict_io import predict_frame, read_inputs
        from ..experiment.predictor import load_model
        from ..experiment.preflight import check_writable

        lvl = fraction("--level", level, example="0.9")
        qs = [_probability("--quantiles", q) for q in split_list(quantiles)] if quantiles else []
        check_writable(out.parent if str(out.parent) else Path("."), what="--out folder")
        predictor = load_model(model_file)
        inputs = read_inputs(data, predictor, trials=trials, id_column=id_column)
        frame = predict_frame(predictor, inputs, level=lvl, quantiles=qs)
        for note in frame.attrs.get("notes", []):
            err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        try:
            frame.to_csv(out, index=False)
        except OSError as e:
            raise LosslabError(f"--out {shown(str(out))} cannot be written ({e.strerror or e})") from None
        console.print(f"predictions: {out}  ({len(frame)} rows; {predictor.label}, {'ensemble of ' if predictor.ensemble else ''}seed{'s' if predictor.ensemble else ''} "
                      f"{', '.join(map(str, predictor.seeds))})", highlight=False, soft_wrap=True)

    guard(run)


def _probability(option: str, text: str) -> float:
    """``text`` as a probability in [0, 1], else a one-line error naming ``option``."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0 <= x <= 1:
        raise LosslabError(f"{option}: {shown(text)} is not a probability; expected numbers in [0, 1], comma-separated, e.g. {option} 0.1,0.5,0.9")
    return x
