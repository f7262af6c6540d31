"""The click application behind the ``stm-keras`` command."""
