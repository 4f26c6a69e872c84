"""Evidence-check thresholds: the defaults, the organisation's [compliance.thresholds], and a caller's overrides."""
import copy

from django.conf import settings

from secretsadmin.config_compliance import DEFAULT_THRESHOLDS, ComplianceConfigError, parse_thresholds

__all__ = ["DEFAULT_THRESHOLDS", "ThresholdError", "organisation_name", "resolve"]


class ThresholdError(ValueError):
    """An override names an unknown check or threshold, or has the wrong type."""


def _configured():
    config = getattr(settings, "CONFIG", None)
    return getattr(config, "compliance", None) or {}


def organisation_name():
    """[compliance] organisation, or the empty string when the configuration names none."""
    return _configured().get("organisation", "")


def resolve(overrides=None, checks=None):
    """{check: {threshold: value}} for `checks` (all by default): defaults < configuration < `overrides`."""
    merged = copy.deepcopy(DEFAULT_THRESHOLDS)
    layers = [_configured().get("thresholds", {})]
    if overrides:
        try:
            layers.append(parse_thresholds(overrides, where="thresholds"))
        except ComplianceConfigError as exc:
            raise ThresholdError(str(exc)) from None
    for layer in layers:
        for check, values in layer.items():
            merged[check].update(values)
    wanted = DEFAULT_THRESHOLDS if checks is None else checks
    return {check: merged[check] for check in wanted}
