"""Configuration as data: the typed run options, the run configuration file, and the one
mechanism both (and model cards) are checked with.

* :mod:`.checks`: how an option is declared (:func:`option`) and checked; :class:`ConfigError`.
* :mod:`.run`: :class:`RunConfig`, how a task is trained (epochs, optimizer, seed, ...).
* :mod:`.file`: :class:`ConfigFile`, ``config.yaml`` of a run and the recipes.

The task options (what is built) are declared by each task (``Task.defaults``); they and the
run options stay two objects from :func:`pgg_zoo.build` to the engine.
"""
from .checks import ConfigError, check_number, option, unknown_options_message
from .file import (CONFIG_FILE, CONFIG_FORMAT, RUN_FILE, ConfigFile, parse_config_text,
                   read_config_file, write_config_file)
from .run import (BUILD_TIME_RUN_OPTIONS, PLACE_OPTIONS, RunConfig, check_run_value,
                  parse_checkpoint_interval, run_option_docs, run_option_names)

__all__ = ["ConfigError", "check_number", "option", "unknown_options_message",
           "CONFIG_FILE", "CONFIG_FORMAT", "RUN_FILE", "ConfigFile", "parse_config_text",
           "read_config_file", "write_config_file",
           "BUILD_TIME_RUN_OPTIONS", "PLACE_OPTIONS", "RunConfig", "check_run_value",
           "parse_checkpoint_interval", "run_option_docs", "run_option_names"]
