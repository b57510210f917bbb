"""The policy-gradient core shared by the RL papers (``qprop``, ``snn4hrl``): vector-environment
sampling (:mod:`.envs`), TRPO with GAE and a linear-feature baseline (:mod:`.trpo`) and the replay
buffer of off-policy critics (:mod:`.replay`)."""
