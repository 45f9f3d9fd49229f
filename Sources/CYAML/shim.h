#ifndef SWITCHYARD_CYAML_SHIM_H
#define SWITCHYARD_CYAML_SHIM_H
/* libyaml's event parser (yaml_parser_parse): SwitchyardGateway composes its own node tree from
   the events, so only the parser is used; nothing here needs a wrapper. */
#include <yaml.h>
#endif
