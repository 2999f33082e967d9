/*
 * The release, from the VERSION file at the top of the tree (the Makefile
 * passes it as TK_VERSION): ticketsctl --version, the module's startup
 * notice and GET /api/health all report this one string.
 */

#include "tickets.h"


#ifndef TK_VERSION
#error "TK_VERSION is not defined: build with the project Makefile"
#endif


const char *
tk_version(void)
{
    return TK_VERSION;
}
