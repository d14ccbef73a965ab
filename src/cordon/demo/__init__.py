"""`cordon demo`: a real hub and a real node on the embedded SQLite default, seeded with demo
data through their APIs, and a story played against them."""
