"""Images: seeds that carry them (images.py), a drawn test set (drawn.py), a vision-language student
(student.py) and its answers in eval (answer.py), cross-modal feature KD (kd.py), thumbnails for
report.html and the notebook (thumbs.py)."""
