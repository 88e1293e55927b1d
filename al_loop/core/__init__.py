"""The core the loop needs: protocols, units, the label store, the loop, cost, interactions, metrics, geometry."""
