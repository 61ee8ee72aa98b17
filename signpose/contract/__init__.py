"""What the stage promises, apart from how it computes it: the rows of its arrays
(contract/rows.py), the files of a segment (contract/files.py) and the outcome of each segment
(contract/outcomes.py). The bottom layer: every other part may import it, it imports none of them."""
