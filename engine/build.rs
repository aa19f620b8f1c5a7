//! Link the CPython the build found, and make the binary load that same libpython at run
//! time (see STACK.md: without the rpath it picked Debian's 3.11.2 and missed pip packages).
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
