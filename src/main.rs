fn main() {
    std::process::exit(openshell::cli::main());
}
