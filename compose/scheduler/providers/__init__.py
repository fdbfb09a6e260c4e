"""The providers the scheduler creates nodes with (entry points `toolpark.gpu_providers`), and
their recorded API answers (`recorded/`). The contract they implement is `toolpark.compose.providers`."""
