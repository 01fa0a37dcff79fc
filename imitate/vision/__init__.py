"""Images: seeds that carry them (images.py), a drawn test set (drawn.py), a vision-language student
(student.py) and cross-modal feature KD (kd.py)."""
