// Fixture: C++ exceptions thrown and caught across frames that open files.
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

static int depth_throw(int n, std::vector<std::ifstream> &keep) {
    std::ifstream f("/etc/hostname");
    if (n == 0) throw std::runtime_error("bottom reached");
    if (n % 3 == 0) keep.emplace_back("/etc/hostname"); // LEAK(cpp)
    return depth_throw(n - 1, keep) + 1;
}

int main() {
    // Never destroyed: the streams it keeps are still open at exit.
    std::vector<std::ifstream> &keep = *new std::vector<std::ifstream>();
    int caught = 0;
    for (int i = 0; i < 100; i++) {
        try {
            depth_throw(10, keep);
        } catch (const std::exception &e) {
            caught++;
        }
    }
    try {
        throw 42;
    } catch (int v) {
        std::printf("caught int %d\n", v);
    }
    std::printf("caught %d, kept %zu\n", caught, keep.size());
    keep.resize(3);
    return 0;
}
