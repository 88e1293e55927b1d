"""Learned interactive methods: one guided network (smp Unet on the pretrained Lite0 encoder,
guidance through RITM's Conv1S) trained for clicks (``ritm_clicks``), extreme points
(``dextr``) or inside-outside guidance (``iog``); ``al-loop train-interactive`` trains it."""

from al_loop.interactive.learned.methods import LearnedMethod, dextr, iog, ritm_clicks

__all__ = ["LearnedMethod", "dextr", "iog", "ritm_clicks"]
