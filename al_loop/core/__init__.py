"""The core the loop needs: the loop, protocols, units, the label store, cost, interactions,
metrics, the typed config, and the mask geometry users and methods share."""
