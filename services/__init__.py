"""What the routes and the worker do: predict, select, refresh after a deploy, the training job."""
