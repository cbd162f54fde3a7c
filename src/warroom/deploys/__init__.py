"""Out-of-band deploy requests. Importing the package registers its reminder handler and its
postmortem section, so any process that loads the models (API, worker, CLI) runs them."""

from warroom.deploys import service as _service  # noqa: F401
