"""Copy services: FlashCopy, Concurrent Copy, SnapShot and TimeFinder/Clone.

Each relationship or session is an object with an explicit state enum and a table of
legal transitions and verbs (:mod:`.lifecycle`); its state and bitmaps persist beside
the site's volumes (:mod:`.store`).  Services configure the track copier and the
write-path intercepts; they never hold the copy loop themselves (docs/architecture.md, "the
copy stack, split in three").
"""
