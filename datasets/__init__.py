"""Data files shipped with sitcli: instrument and venue presets, the catalyst calendar, demo bars."""
