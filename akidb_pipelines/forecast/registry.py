"""The model registry in the lake: every trained model as JSON (``prophet.serialize``, never pickle), versioned,
with its training range, parameters and validation metrics, plus a pointer to the promoted version.

    registry/prophet/<series>/<version>/model.json   the model
    registry/prophet/<series>/<version>/meta.json    what it was trained on, how it validated, promoted or why not
    registry/prophet/<series>/<version>/band.parquet its 1-minute forecast band (promoted models only)
    registry/prophet/<series>/promoted.json          {"version": ...}: what scoring uses
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from akidb_pipelines.storage import Lake

ROOT = "registry/prophet"


@dataclass(frozen=True)
class StoredModel:
    series: str
    version: str
    meta: dict[str, Any]


class Registry:
    def __init__(self, lake: Lake):
        self.lake = lake

    def _dir(self, series: str, version: str | None = None) -> str:
        return f"{ROOT}/{series}" + (f"/{version}" if version else "")

    def save(self, series: str, version: str, model_json: str, meta: dict[str, Any]) -> str:
        self.lake.write_bytes(f"{self._dir(series, version)}/model.json", model_json.encode())
        return self.lake.write_bytes(f"{self._dir(series, version)}/meta.json",
                                     json.dumps(meta, indent=2, default=str).encode())

    def save_band(self, series: str, version: str, band: pd.DataFrame) -> str:
        buf = io.BytesIO()
        band.to_parquet(buf, index=False)
        return self.lake.write_bytes(f"{self._dir(series, version)}/band.parquet", buf.getvalue())

    def band(self, series: str, version: str) -> pd.DataFrame | None:
        data = self.lake.read_bytes(f"{self._dir(series, version)}/band.parquet")
        return pd.read_parquet(io.BytesIO(data)) if data is not None else None

    def promote(self, series: str, version: str) -> None:
        self.lake.write_bytes(f"{self._dir(series)}/promoted.json", json.dumps({"version": version}).encode())

    def promoted(self, series: str) -> StoredModel | None:
        data = self.lake.read_bytes(f"{self._dir(series)}/promoted.json")
        if data is None:
            return None
        version = json.loads(data)["version"]
        return StoredModel(series, version, self.meta(series, version))

    def meta(self, series: str, version: str) -> dict[str, Any]:
        data = self.lake.read_bytes(f"{self._dir(series, version)}/meta.json")
        if data is None:
            raise FileNotFoundError(f"{self.lake.root}/{self._dir(series, version)}/meta.json")
        return json.loads(data)

    def model_json(self, series: str, version: str) -> str:
        data = self.lake.read_bytes(f"{self._dir(series, version)}/model.json")
        if data is None:
            raise FileNotFoundError(f"{self.lake.root}/{self._dir(series, version)}/model.json")
        return data.decode()

    def load(self, series: str, version: str):  # noqa: ANN201 - a Prophet model
        from akidb_pipelines.forecast.model import from_json

        return from_json(self.model_json(series, version))

    def versions(self, series: str) -> list[str]:
        return sorted({p.split("/")[3] for p in self.lake.list_objects(self._dir(series))
                       if p.endswith("/meta.json")})

    def table(self) -> pd.DataFrame:
        """One row per stored version: series, version, promoted, training range, validation."""
        rows = []
        series = sorted({p.split("/")[2] for p in self.lake.list_objects(ROOT)})
        for s in series:
            current = self.promoted(s)
            for v in self.versions(s):
                m = self.meta(s, v)
                val = m.get("validation", {})
                rows.append({"series": s, "version": v, "promoted": bool(current and current.version == v),
                             "training_start": m.get("training_start"), "training_end": m.get("training_end"),
                             "measure": val.get("measure"), "error": val.get("error"),
                             "coverage": val.get("coverage"), "passed": val.get("passed"),
                             "reasons": "; ".join(val.get("reasons", []))})
        return pd.DataFrame(rows)
