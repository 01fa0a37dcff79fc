"""Rank what the filter kept and keep a budget: the scorers of `imitate select` (ifd, judge, length, random),
how several combine (the mean of their ranks), and the diversity pass. The stage is imitate/stages/select.py."""
SCORERS = ("ifd", "judge", "length", "random")
