"""The bar frequency and gap policy a candidate or best config was tuned on, against the ones a command is given.

A config's context length and horizon are counts of bars. Served on bars of another spacing (``--freq 2h`` on a
config tuned on hourly bars labels the forecast bars wrongly and reads another history), or on bars made up by
forward filling when it was tuned on real ones, it forecasts something it was never scored on. Candidates record
both as ``provenance.freq`` and ``provenance.gap_policy`` (:func:`sweep.runs.run.provenance`; ``promote`` carries them
into ``best/<SYMBOL>.json``); ``predict`` and ``evaluate --config`` take them from the file and refuse a flag that
differs. Files written before they were recorded hold neither: the flags apply, else :data:`DEFAULT_FREQ` and
:data:`DEFAULT_GAP_POLICY`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bar_time import parse_freq
from ..errors import ConfigError

__all__ = ["DEFAULT_FREQ", "DEFAULT_GAP_POLICY", "tuned_data_settings"]

#: Bar frequency and gap policy of a file that records neither (the sweep's defaults).
DEFAULT_FREQ, DEFAULT_GAP_POLICY = "1h", "error"


def tuned_data_settings(document: Any, source: str | Path, freq: str | None = None,
                        gap_policy: str | None = None) -> tuple[str, str]:
    """The bar frequency and gap policy to read data with for the config in ``document``.

    Parameters
    ----------
    document : dict
        A candidate or best-config JSON (a bare config has no ``provenance``: the flags or defaults apply).
    source : str or Path
        The file it came from, for messages.
    freq, gap_policy : str, optional
        ``--freq`` and ``--gap-policy`` as given (None: not given).

    Returns
    -------
    freq, gap_policy : str
        The recorded values, else the given ones, else ``"1h"`` and ``"error"``.

    Raises
    ------
    ConfigError
        If a given value differs from the recorded one (a frequency is compared as a duration, so ``60min``
        equals ``1h``), naming both values, the file and the fix; or the recorded frequency is not one.
    """
    provenance = document.get("provenance") if isinstance(document, dict) else None
    provenance = provenance if isinstance(provenance, dict) else {}
    recorded_freq, recorded_policy = provenance.get("freq"), provenance.get("gap_policy")
    if recorded_freq is not None:
        try:
            recorded = parse_freq(str(recorded_freq))
        except ConfigError as e:
            raise ConfigError(f"{source}: its provenance.freq {recorded_freq!r} is not a bar frequency; restore the "
                              f"file, or re-run the sweep and promote its candidate") from e
        if freq is not None and parse_freq(freq) != recorded:
            raise ConfigError(f"--freq {freq} differs from the bar frequency {recorded_freq} that {source} was tuned "
                              f"on (its provenance.freq): its context and horizon count {recorded_freq} bars. Drop "
                              f"--freq to use {recorded_freq}, or sweep with --freq {freq} and use that config")
    if recorded_policy is not None and gap_policy is not None and gap_policy != recorded_policy:
        raise ConfigError(f"--gap-policy {gap_policy} differs from the gap policy {recorded_policy} that {source} was "
                          f"tuned with (its provenance.gap_policy): the config was scored on bars read that way. "
                          f"Drop --gap-policy to use {recorded_policy}, or sweep with --gap-policy {gap_policy} and "
                          f"use that config")
    return (str(freq or recorded_freq or DEFAULT_FREQ), str(gap_policy or recorded_policy or DEFAULT_GAP_POLICY))
