"""The viewer's command: ``python scripts/3b_visualize.py SENTENCE_NAME [--out DIR] [--frames N] [--compare DIR]``
(qa/visualize.py)."""
import sys
from typing import List

from signpose.config import Options, argument_parser, settings_from_args
from signpose.qa.visualize import VizError, visualize


def sentence_first(argv: List[str]) -> List[str]:
    """--cfg-options takes every word after it; a word there without '=' is the SENTENCE_NAME."""
    words, moved, in_options = [], [], False
    for word in argv:
        if word.startswith('-'):
            in_options = word == '--cfg-options'
        elif in_options and '=' not in word:
            moved.append(word)
            continue
        words.append(word)
    return moved + words


def main(argv=None) -> int:
    parser = argument_parser('Draw the saved landmarks of one segment over its video frames.')
    parser.add_argument('sentence', metavar='SENTENCE_NAME',
                        help='the segment; its file is NPY_DIR/SENTENCE_NAME.npy')
    parser.add_argument('--out', default=None, metavar='DIR', help='output folder (default: NPY_DIR/viz)')
    parser.add_argument('--frames', type=int, default=8, metavar='N',
                        help='frames on the contact sheet (default 8)')
    parser.add_argument('--compare', default=None, metavar='DIR',
                        help='also draw the processed copy DIR/SENTENCE_NAME.npy (scripts/3b_smooth.py), in cyan')
    args = parser.parse_args(sentence_first(sys.argv[1:] if argv is None else argv))
    try:
        paths = visualize(Options.of(settings_from_args(args)), args.sentence, args.out, max(1, args.frames), args.compare)
    except VizError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0
