"""OneID: the identity graph (models, rules, resolver), incremental and batch resolution (service),
a person's merge / unmerge / review decisions (merge), the customer 360 reads (profile), and the
seam where the probabilistic matcher plugs in (seam, matcher), with the records it sees
(match_records) and the pairs it scores, the same in a batch as in a rebuild (proposals)."""
