"""Training helpers shared by the finetune stage and the benchmarks."""
