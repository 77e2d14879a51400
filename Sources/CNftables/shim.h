// libnftables (Debian libnftables-dev): nftables' own library, the one `nft` is built on.
#include <nftables/libnftables.h>
