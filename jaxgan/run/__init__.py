"""The training-run machinery: everything between a recipe and a finished run folder.

  loop              train_and_evaluate: open the run, train chunk by chunk, close it
  members           a population's run: per-member metrics and grids, frozen members
  schedule          which step each event (log, sample, evaluate, checkpoint) falls on
  progress          progress bars and the seeds' log lines
  divergence        the NaN/Inf guard: stop, roll back or go on
  stop_signal       Ctrl-C / SIGTERM turned into a clean stop with a checkpoint
  clock             wall times of the run (start-up, compiling, training, closing)
  process_clock     the process's own start time
  resume            whether a run folder can be continued with this recipe
  prefetch          the next chunk's batches gathered while the device trains
  lock              one trainer per run folder
  folder            the run folder: logs, sample grids, figures, summary.json
  checkpoint        orbax checkpoints: atomic, verified, the newest K kept
  best_checkpoint   the best checkpoint by evaluation, in best/
  compile_cache     jax's persistent compilation cache
  tensorboard_events  TensorBoard event files
  saved_generator   a trained generator loaded from a run folder (sampling, evaluation)
  report            the evaluation report of a run's generator (`python -m jaxgan.evaluate`)
  process_hooks     what a command-line process installs once (logging filters and the like)
"""



def __getattr__(name: str):
    # imported on first use, so that `jaxgan.run.checkpoint` alone does not load the whole loop
    if name == "train_and_evaluate":
        from jaxgan.run.loop import train_and_evaluate

        return train_and_evaluate
    raise AttributeError(f"module 'jaxgan.run' has no attribute {name!r}")


__all__ = ["train_and_evaluate"]
