//! S/MIME and test PKI toolkit shared by the checker (`kvc-check`) and the mocks.
