// The part of fengari's API (untyped CommonJS) that test/support/argocd-health.ts uses.
declare module 'fengari' {
  type LuaState = object;
  type LuaString = Uint8Array;
  const fengari: {
    lua: {
      LUA_OK: number;
      lua_pcall: (L: LuaState, nargs: number, nresults: number, msgh: number) => number;
      lua_tojsstring: (L: LuaState, index: number) => string | null;
      lua_istable: (L: LuaState, index: number) => boolean;
      lua_isnil: (L: LuaState, index: number) => boolean;
      lua_getfield: (L: LuaState, index: number, key: LuaString) => number;
      lua_pop: (L: LuaState, n: number) => void;
    };
    lauxlib: {
      luaL_newstate: () => LuaState;
      luaL_loadstring: (L: LuaState, chunk: LuaString) => number;
    };
    lualib: { luaL_openlibs: (L: LuaState) => void };
    to_luastring: (s: string) => LuaString;
  };
  export default fengari;
}
