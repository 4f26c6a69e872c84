"""Exporters of a frozen report snapshot (PDF, CSV, JSON, OSCAL): deterministic, so a download is byte-identical.

Each format is one module with `render(snapshot: FrozenSnapshot) -> bytes`, imported on first use (the PDF
library is big). Exporters see only what was frozen, never the database or the clock.
"""
import json
from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class ExportFormat:
    module: str
    content_type: str
    extension: str
    label: str


FORMATS = {
    "pdf": ExportFormat("compliance.exports.pdf", "application/pdf", "pdf", "PDF"),
    "csv": ExportFormat("compliance.exports.csv_export", "text/csv; charset=utf-8", "csv", "CSV"),
    "json": ExportFormat("compliance.exports.json_export", "application/json", "json", "JSON"),
    "oscal": ExportFormat("compliance.exports.oscal", "application/json", "oscal.json", "OSCAL"),
}


def canonical_json(data) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 as is: the encoding that is hashed and exported."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class FrozenSnapshot:
    """What an exporter may use: the snapshot's identity and digest, and its frozen content."""

    uuid: str
    digest: str
    generated: dict  # {"at": "2026-11-01T09:30:00Z", "by": "dana"}
    inputs: dict  # framework, period, thresholds, organisation, catalog_version
    results: dict  # the compliance.evaluate.build_report document

    def frozen_content(self):
        """The object whose canonical JSON the digest covers."""
        return {"generated": self.generated, "inputs": self.inputs, "results": self.results}

    @property
    def framework(self):
        return self.results.get("framework") or {}

    def framework_label(self):
        framework = self.framework
        label = f"{framework.get('name', self.inputs.get('framework', ''))} {framework.get('version') or ''}".strip()
        return f"{label} ({framework['edition']} edition)" if framework.get("edition") else label

    def period_label(self):
        period = self.inputs.get("period") or {}
        return f"{period.get('start')} to {period.get('end')}"

    def file_stem(self):
        period = self.inputs.get("period") or {}
        return f"compliance-{self.inputs.get('framework')}-{period.get('start')}-{period.get('end')}-{self.uuid[:8]}"


def render(fmt, snapshot: FrozenSnapshot) -> bytes:
    return import_module(FORMATS[fmt].module).render(snapshot)
