"""The human and legal side of the node: user reports, the review queue, decisions with
statements of reasons, appeals, removal orders, preservation, strikes and transparency."""
