"""The search itself, round by round: a run prepared and checked, every climber's seed, where its climbs run,
what a round keeps, and the checkpoint it goes on from."""
