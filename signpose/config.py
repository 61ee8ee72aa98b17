"""The stage's settings: the constants of configs/extract_mmpose.py, plus --cfg-options overrides."""
import argparse
import importlib.util
from pathlib import Path
from types import SimpleNamespace

from mmengine.config import Config, DictAction

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'extract_mmpose.py'


def load_settings(config_file=DEFAULT_CONFIG, overrides=None) -> SimpleNamespace:
    """Read the upper-case constants of a plain config module and apply overrides.

    Unknown override names are an error (a typo must not be silently ignored).
    """
    spec = importlib.util.spec_from_file_location('stage_config', str(config_file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values = {k: v for k, v in vars(module).items() if k.isupper()}
    unknown = sorted(set(overrides or {}) - set(values))
    if unknown:
        raise SystemExit(f'unknown setting(s) in --cfg-options: {", ".join(unknown)}; '
                         f'the settings are those of {config_file}')
    cfg = Config(values)
    if overrides:
        cfg.merge_from_dict(dict(overrides))
    settings = cfg.to_dict()
    for key in ('ACCEPT_VIDEO_FPS_WITHIN', ):
        settings[key] = tuple(settings[key])
    settings['COCO_WHOLEBODY_IDX'] = [int(i) for i in settings['COCO_WHOLEBODY_IDX']]
    return SimpleNamespace(**settings)


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--config', default=str(DEFAULT_CONFIG),
                        help='the constants module (default: configs/extract_mmpose.py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings for this run, e.g. CSV_FILE=/data/m.csv BBOX_THR=0.5')
    return parser


def settings_from_args(args) -> SimpleNamespace:
    return load_settings(args.config, args.cfg_options)
