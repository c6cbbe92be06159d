"""OneID: the identity graph (models, rules, resolver), incremental and batch resolution (service),
a person's merge / unmerge / review decisions (merge), the customer 360 reads (profile), and the
seam where the probabilistic matcher plugs in (seam, matcher)."""
