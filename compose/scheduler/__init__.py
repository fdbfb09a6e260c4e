"""The scheduler on the entry server: it creates the scheduled (GPU) node in its windows, checks
it, and removes it, through a provider plugin. See `toolpark.compose.scheduler.reconciler`."""
